SELECT s.sourceId, f.filterName FROM Source s LEFT JOIN Filter f ON f.filterId = s.filterId + 3 WHERE s.objectId < 300
