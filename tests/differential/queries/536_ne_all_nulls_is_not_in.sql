SELECT COUNT(*) FROM Object WHERE extendedness <> ALL (SELECT extendedness FROM Object WHERE objectId < 500)
