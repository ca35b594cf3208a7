SELECT objectId, ra * 1e-3 AS k, 2.5E2 + decl AS d FROM Object WHERE objectId < 100
