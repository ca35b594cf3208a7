SELECT f.filterName, o.objectId FROM Filter f RIGHT JOIN Object o ON o.flags = f.filterId WHERE o.objectId < 200
