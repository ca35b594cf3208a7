SELECT COUNT(*), SUM(flags) FROM Object WHERE flags NOT IN (SELECT flags FROM Object WHERE extendedness = 1 AND gMag < 18)
