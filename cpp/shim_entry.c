/* The shared library is built from fascore; this file only gives CMake a source. */
