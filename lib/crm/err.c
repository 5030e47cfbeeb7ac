/* err: being written */
