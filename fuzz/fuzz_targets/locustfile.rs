//! The locustfile translator: any text is a plan or one error, never a
//! panic; a plan has classes with tasks and an error names a line in the
//! file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::locustfile::translate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match translate("fuzz.py", text) {
        Ok(plan) => assert!(plan.classes.iter().all(|c| !c.tasks.is_empty())),
        Err(e) => {
            // Lines as the tokenizer counts them: \r\n, \r and \n all end one.
            let breaks = text.replace("\r\n", "\n").matches(['\n', '\r']).count();
            assert!(e.line >= 1 && e.line <= breaks + 1, "line {}", e.line);
        }
    }
});
