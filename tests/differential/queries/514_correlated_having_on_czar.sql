SELECT flags, COUNT(*) FROM Object o GROUP BY flags HAVING COUNT(*) > (SELECT 250 * COUNT(*) FROM Filter f WHERE f.filterId = o.flags)
