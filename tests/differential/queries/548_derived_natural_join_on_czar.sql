SELECT f.filterName, t.n FROM Filter f NATURAL JOIN (SELECT filterId, COUNT(*) AS n FROM Source GROUP BY filterId) AS t
