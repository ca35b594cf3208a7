SELECT s.sourceId, f.filterName, s.psfFlux * f.photClam AS x FROM Source s JOIN Filter f ON s.filterId = f.filterId WHERE s.objectId < 500
