-- ordered
SELECT * FROM Source ORDER BY sourceId DESC LIMIT 7
