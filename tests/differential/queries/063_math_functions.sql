SELECT sourceId, DEGREES(RADIANS(ra)) AS r, SIN(RADIANS(decl)) AS s, LOG10(psfFlux) AS lf FROM Source WHERE objectId < 400
