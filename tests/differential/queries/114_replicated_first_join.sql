SELECT f.filterName, s.sourceId FROM Filter f JOIN Source s ON s.filterId = f.filterId WHERE s.objectId BETWEEN 500 AND 900
