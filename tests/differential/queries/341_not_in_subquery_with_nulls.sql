SELECT COUNT(*) FROM Object WHERE extendedness NOT IN (SELECT extendedness FROM Object WHERE flags = 3)
