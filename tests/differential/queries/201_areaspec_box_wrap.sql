SELECT COUNT(*), MIN(ra), MAX(ra), MIN(decl), MAX(decl) FROM Object WHERE QSERV_AREASPEC_BOX(358.5, -2, 1.5, 3)
-- oracle: SELECT COUNT(*), MIN(ra), MAX(ra), MIN(decl), MAX(decl) FROM Object WHERE scisql_s2PtInBox(ra, decl, 358.5, -2, 1.5, 3) = 1
