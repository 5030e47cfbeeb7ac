/* admin: being written */
