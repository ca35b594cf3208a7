SELECT a.filterName, b.filterName FROM Filter a JOIN Filter b ON b.filterId = a.filterId + 1
