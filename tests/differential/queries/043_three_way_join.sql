SELECT f.filterName, COUNT(*), AVG(o.gMag) FROM Object o JOIN Source s ON o.objectId = s.objectId JOIN Filter f ON f.filterId = s.filterId WHERE o.flags = 2 GROUP BY f.filterName
