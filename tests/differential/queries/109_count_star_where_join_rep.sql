SELECT f.filterName, COUNT(*) FROM Source s, Filter f WHERE s.filterId = f.filterId AND f.photClam > 6000 GROUP BY f.filterName
