SELECT `objectId`, ra r, decl AS `Dec Deg` FROM `Object` WHERE `objectId` < 150
