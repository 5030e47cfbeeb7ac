# crm_embed_migrations(target dir symbol): compiles every dir/*.sql, in name order, into a C array
# `const crm_migration_t symbol[]` plus `symbol_count`, so a daemon carries its own migrations.
function(crm_embed_migrations target dir symbol)
  file(GLOB sqls CONFIGURE_DEPENDS ${dir}/*.sql)
  list(SORT sqls)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${symbol}.c)
  # A ';' list would split into several command arguments: pass the files '|'-separated.
  string(REPLACE ";" "|" files_arg "${sqls}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DSYMBOL=${symbol} "-DFILES=${files_arg}"
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    DEPENDS ${sqls} ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    COMMENT "embedding migrations of ${target}" VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
