-- ordered
SELECT objectId, rMag - iMag AS ri FROM Object WHERE rMag IS NOT NULL AND iMag IS NOT NULL ORDER BY ri DESC, objectId LIMIT 10 OFFSET 5
