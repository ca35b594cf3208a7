SELECT sourceId, filterId FROM Source WHERE objectId IN (13, 23, 4003, 77773)
