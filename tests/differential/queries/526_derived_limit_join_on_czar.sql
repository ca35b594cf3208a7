SELECT o.objectId, o.flags, t.psfFlux FROM Object o JOIN (SELECT objectId, psfFlux FROM Source ORDER BY psfFlux DESC LIMIT 20) AS t ON t.objectId = o.objectId
