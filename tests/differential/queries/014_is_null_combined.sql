SELECT objectId, extendedness FROM Object WHERE name IS NULL AND extendedness IS NOT NULL AND rMag < 19
