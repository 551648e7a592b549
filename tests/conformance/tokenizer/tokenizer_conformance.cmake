# conformance.tokenizer: Djinn's tokenizer.json tokenizer against HF tokenizers
# (the Rust library, through its Node bindings) on the real tokenizer files of
# Llama 3, Llama 3.1, Qwen2.5, Qwen3, Llama 2 and Mistral Nemo and three
# variants (make_variants.mjs: Metaspace forms, GPT-2-style ByteLevel), over a
# generated corpus of 24,000 strings (run.sh says how; the npm packages are
# pinned in package-lock.json and installed into the build tree).
add_executable(tokenizer_conformance ${CMAKE_CURRENT_LIST_DIR}/tokenizer_conformance.cc)
target_link_libraries(tokenizer_conformance PRIVATE djinn_common)
target_include_directories(tokenizer_conformance PRIVATE ${CMAKE_SOURCE_DIR})
add_test(NAME conformance.tokenizer
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/tokenizer-conformance
                 $<TARGET_FILE:tokenizer_conformance>)
set_tests_properties(conformance.tokenizer PROPERTIES LABELS conformance TIMEOUT 900)
