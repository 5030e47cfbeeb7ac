/* pgtest: being written */
