/* migrate: being written */
