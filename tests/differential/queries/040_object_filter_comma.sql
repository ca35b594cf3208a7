SELECT o.objectId, f.filterName FROM Object o, Filter f WHERE o.objectId < 200 AND f.filterId = o.flags % 6
