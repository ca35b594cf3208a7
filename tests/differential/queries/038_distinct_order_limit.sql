-- ordered
SELECT DISTINCT filterId FROM Source ORDER BY filterId DESC LIMIT 4
