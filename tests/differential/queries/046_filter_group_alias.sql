SELECT filterId % 2 AS parity, COUNT(*), SUM(photClam) FROM Filter GROUP BY parity
