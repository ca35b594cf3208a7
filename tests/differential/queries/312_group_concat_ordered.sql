SELECT filterId, GROUP_CONCAT(DISTINCT objectId ORDER BY objectId DESC SEPARATOR '|') AS ids FROM Source WHERE objectId < 200 GROUP BY filterId
