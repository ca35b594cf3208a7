SELECT extendedness, BIT_AND(flags), BIT_OR(flags), BIT_XOR(flags), BIT_OR(objectId) FROM Object GROUP BY extendedness
