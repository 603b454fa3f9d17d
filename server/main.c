/*
 * main.c - elvesd entry point (placeholder until the server lands).
 */
#include <stdio.h>

#include "elves.h"

int main(void)
{
    printf("elvesd %s\n", ELVES_VERSION_STRING);
    return 0;
}
