SELECT flags FROM Object GROUP BY flags HAVING MAX(rMag) > 26 AND flags < 10
