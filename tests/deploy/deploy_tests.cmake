# Checks of deploy/prometheus and deploy/grafana that need no daemon
# (tests/deploy/check_deploy.py; promtool from Debian's prometheus package,
# which scripts/install-deps.sh installs). The integration tests
# prometheus_test and dashboard_metrics_test run them against a real djinnd.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
foreach(check config rules unit coverage dashboard)
  set(name deploy.prometheus.${check})
  if(check STREQUAL "dashboard")
    set(name deploy.grafana.promql)
  endif()
  add_test(NAME ${name}
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_deploy.py ${CMAKE_SOURCE_DIR} ${check})
  set_tests_properties(${name} PROPERTIES LABELS deploy TIMEOUT 120)
endforeach()
