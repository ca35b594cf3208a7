SELECT objectId FROM Object WHERE flags = 2 INTERSECT SELECT objectId FROM Source WHERE filterId = 1
