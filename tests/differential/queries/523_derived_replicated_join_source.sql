SELECT s.filterId, COUNT(*), MIN(f.filterName) FROM Source s JOIN (SELECT filterId, filterName FROM Filter WHERE photClam > 5000) AS f ON f.filterId = s.filterId GROUP BY s.filterId
