SELECT filterId, COUNT(*) FROM Source s WHERE EXISTS (SELECT 1 FROM Filter f WHERE f.filterId = s.filterId AND f.filterName IN ('g', 'r')) GROUP BY filterId
