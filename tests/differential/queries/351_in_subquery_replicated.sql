SELECT COUNT(*) FROM Source WHERE filterId IN (SELECT filterId FROM Filter WHERE filterName IN ('g', 'r'))
