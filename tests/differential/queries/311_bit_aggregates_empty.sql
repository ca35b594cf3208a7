SELECT BIT_AND(flags), BIT_OR(flags), BIT_XOR(flags) FROM Object WHERE gMag < -100
