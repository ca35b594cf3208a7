SELECT objectId, flags FROM Object WHERE flags IN (1, 3, 5) AND gMag < 20
