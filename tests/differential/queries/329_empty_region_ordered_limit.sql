-- ordered
SELECT objectId, gMag FROM Object WHERE qserv_areaspec_box(300, 80, 301, 81) ORDER BY gMag LIMIT 5
-- oracle: SELECT objectId, gMag FROM Object WHERE scisql_s2PtInBox(ra, decl, 300, 80, 301, 81) = 1 ORDER BY gMag LIMIT 5
