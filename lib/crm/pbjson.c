/* pbjson: being written */
