SELECT COUNT(*), MAX(photClam), MIN(filterName) FROM Filter
