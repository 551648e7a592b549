# Chat templates vs @huggingface/jinja (conformance.chat_template): run.sh
# installs the pinned npm packages (package-lock.json) into the build tree,
# render_reference.mjs renders the real templates with the reference, and
# the GoogleTest below checks Djinn renders the same bytes.
set(_djinn_chat_conformance_dir ${CMAKE_CURRENT_LIST_DIR})
add_executable(conformance_chat_template ${_djinn_chat_conformance_dir}/chat_template_conformance_test.cc)
target_link_libraries(conformance_chat_template PRIVATE djinn_common GTest::gtest GTest::gtest_main)
target_include_directories(conformance_chat_template PRIVATE ${CMAKE_SOURCE_DIR})
add_test(NAME conformance.chat_template
         COMMAND ${_djinn_chat_conformance_dir}/run.sh ${CMAKE_BINARY_DIR}/conformance-tools/chat_template
                 $<TARGET_FILE:conformance_chat_template>)
set_tests_properties(conformance.chat_template PROPERTIES LABELS conformance TIMEOUT 600)
