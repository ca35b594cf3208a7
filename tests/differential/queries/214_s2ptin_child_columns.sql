SELECT s.sourceId FROM Source s JOIN Object o ON o.objectId = s.objectId WHERE scisql_s2PtInCircle(s.ra, s.decl, 1, 1, 0.3) = 1 AND scisql_angSep(s.ra, s.decl, o.ra, o.decl) < 0.001
