SELECT s.sourceId, (SELECT f.filterName FROM Filter f WHERE f.filterId = s.filterId) AS band FROM Source s WHERE s.objectId < 600
