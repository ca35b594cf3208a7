SELECT COUNT(*), SUM(flags) FROM Object WHERE objectId IN (SELECT s.objectId FROM Source s WHERE EXISTS (SELECT 1 FROM Filter f WHERE f.filterId = s.filterId AND f.photClam > 9000))
