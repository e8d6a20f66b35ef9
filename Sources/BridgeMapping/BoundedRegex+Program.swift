/// Compiling a parsed pattern into a program, and running it on every thread at once.
extension BoundedRegex {
    /// A pattern compiled for a Thompson NFA simulation: instructions that consume one scalar, and jumps, splits
    /// and assertions that consume none.
    struct Program: Sendable {
        enum Instruction: Equatable, Sendable {
            /// Consumes this scalar.
            case scalar(Unicode.Scalar)
            /// Consumes a scalar whose case folding is this one.
            case caseless(Unicode.Scalar)
            /// Consumes a scalar of `sets[index]`.
            case set(Int)
            /// Goes on at both.
            case split(Int, Int)
            case jump(Int)
            /// Goes on when the position passes the test.
            case assert(Assertion)
            case match
        }

        private(set) var instructions: [Instruction] = []
        private(set) var sets: [ScalarSet] = []
        /// `sets[i]` on ASCII, as two 64-bit masks: most values are ASCII, and a mask needs no Unicode property.
        private(set) var asciiMasks: [(low: UInt64, high: UInt64)] = []

        /// Whether an instruction compares case-insensitively, so that each scalar of a value is folded once.
        private(set) var caseless = false

        var count: Int { instructions.count }

        init(_ tree: Node) throws {
            try emit(tree)
            try append(.match)
            caseless = instructions.contains { if case .caseless = $0 { true } else { false } }
        }

        private mutating func append(_ instruction: Instruction) throws {
            guard instructions.count < BoundedRegex.maxProgram else {
                throw Refusal(
                    "is too large once its counted repetitions are spelled out (more than "
                        + "\(BoundedRegex.maxProgram) instructions); use smaller counts, or * and +")
            }
            instructions.append(instruction)
        }

        /// Replaces the placeholder at `index` once its targets are known.
        private mutating func patch(_ index: Int, _ instruction: Instruction) {
            instructions[index] = instruction
        }

        private mutating func emit(_ node: Node) throws {
            switch node {
            case .empty: break
            case .scalar(let c, let caseless):
                let folded = ScalarSet.fold(c)
                // A scalar without case variants is compared as it is.
                if caseless, folded != c || ScalarSet.upper(c) != c {
                    try append(.caseless(folded))
                } else {
                    try append(.scalar(c))
                }
            case .set(let set):
                if let index = sets.firstIndex(of: set) {
                    try append(.set(index))
                } else {
                    sets.append(set)
                    var mask: (low: UInt64, high: UInt64) = (0, 0)
                    for value in UInt32(0)..<64 where set.contains(Unicode.Scalar(value)!) { mask.low |= 1 << value }
                    for value in UInt32(64)..<128 where set.contains(Unicode.Scalar(value)!) {
                        mask.high |= 1 << (value - 64)
                    }
                    asciiMasks.append(mask)
                    try append(.set(sets.count - 1))
                }
            case .assertion(let a): try append(.assert(a))
            case .sequence(let items): for item in items { try emit(item) }
            case .choice(let branches):
                // split L1, next; L1: branch; jump end; next: split L2, next'; ... last branch; end:
                var jumps: [Int] = []
                for (n, branch) in branches.enumerated() {
                    if n == branches.count - 1 {
                        try emit(branch)
                    } else {
                        let split = count
                        try append(.match)
                        try emit(branch)
                        jumps.append(count)
                        try append(.match)
                        patch(split, .split(split + 1, count))
                    }
                }
                for j in jumps { patch(j, .jump(count)) }
            case .repetition(let body, let min, let max):
                // x{m,} with m >= 1 is m - 1 copies and then x+.
                for _ in 0..<(max == nil && min >= 1 ? min - 1 : min) { try emit(body) }
                if let max {
                    // x{m,n}: n - m optional copies, each of which may skip to the end.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(count)
                        try append(.match)
                        try emit(body)
                    }
                    for s in splits { patch(s, .split(s + 1, count)) }
                } else if min >= 1 {
                    // x+: loop: x; split loop, out
                    let loop = count
                    try emit(body)
                    try append(.split(loop, count + 1))
                } else {
                    // x*: loop: split body, out; body: x; jump loop; out:
                    let loop = count
                    try append(.match)
                    try emit(body)
                    try append(.jump(loop))
                    patch(loop, .split(loop + 1, count))
                }
            }
        }

        /// Whether the program matches anywhere in `input`. `steps` counts the instructions visited: at most
        /// `(4 × count + 1) × (input.count + 1)`, since each instruction joins the set of live threads at most once
        /// per position.
        func run(_ input: [Unicode.Scalar], steps: inout Int) -> Bool {
            instructions.withUnsafeBufferPointer { code in
                input.withUnsafeBufferPointer { text in
                    var current = ThreadSet(capacity: code.count)
                    var next = ThreadSet(capacity: code.count)
                    // Each instruction a closure adds pushes at most two more: 2 × count + 1 is enough.
                    let stack = UnsafeMutablePointer<Int>.allocate(capacity: 2 * code.count + 1)
                    defer {
                        current.deallocate()
                        next.deallocate()
                        stack.deallocate()
                    }
                    var visited = 0
                    defer { steps += visited }
                    for position in 0...text.count {
                        // A new thread at every position: the pattern may match anywhere.
                        if current.add(0, code: code, stack: stack, at: position, in: text, steps: &visited) {
                            return true
                        }
                        guard position < text.count else { break }
                        let c = text[position]
                        let folded = caseless ? ScalarSet.fold(c) : c
                        for slot in 0..<current.count {
                            let pc = current.dense[slot]
                            visited += 1
                            let moves =
                                switch code[pc] {
                                case .scalar(let s): c == s
                                case .caseless(let s): folded == s
                                case .set(let index): inSet(index, c)
                                default: false
                                }
                            if moves,
                                next.add(pc + 1, code: code, stack: stack, at: position + 1, in: text, steps: &visited)
                            {
                                return true
                            }
                        }
                        swap(&current, &next)
                        next.count = 0
                    }
                    return false
                }
            }
        }

        private func inSet(_ index: Int, _ c: Unicode.Scalar) -> Bool {
            if c.value < 64 { return asciiMasks[index].low & (1 << c.value) != 0 }
            if c.value < 128 { return asciiMasks[index].high & (1 << (c.value - 64)) != 0 }
            return sets[index].contains(c)
        }

        static func holds(_ assertion: Assertion, at position: Int, in input: UnsafeBufferPointer<Unicode.Scalar>)
            -> Bool
        {
            switch assertion {
            case .start: return position == 0
            case .end:
                let rest = input.count - position
                return rest == 0 || rest == 1 && ScalarSet.isLineBreak(input[position])
                    || rest == 2 && input[position] == "\r" && input[position + 1] == "\n"
            case .wordBoundary, .notWordBoundary:
                let before = position > 0 && ScalarSet.isWord(input[position - 1])
                let after = position < input.count && ScalarSet.isWord(input[position])
                return (before != after) == (assertion == .wordBoundary)
            }
        }
    }

    /// The live threads at one position: a sparse set of instruction indices (Briggs and Torczon), which inserts,
    /// tests and empties in constant time. Its memory is freed by `deallocate()`.
    struct ThreadSet {
        let dense: UnsafeMutablePointer<Int>
        let sparse: UnsafeMutablePointer<Int>
        var count = 0

        init(capacity: Int) {
            dense = .allocate(capacity: capacity)
            sparse = .allocate(capacity: capacity)
            sparse.initialize(repeating: 0, count: capacity)
        }

        func deallocate() {
            dense.deallocate()
            sparse.deallocate()
        }

        /// Inserts `pc`; false when it was already there.
        mutating func insert(_ pc: Int) -> Bool {
            let slot = sparse[pc]
            if slot < count && dense[slot] == pc { return false }
            sparse[pc] = count
            dense[count] = pc
            count += 1
            return true
        }

        /// Adds the thread at `pc` and every thread it reaches without consuming a scalar; true when one of them is
        /// a match. `steps` counts the instructions visited.
        mutating func add(
            _ pc: Int, code: UnsafeBufferPointer<Program.Instruction>, stack: UnsafeMutablePointer<Int>,
            at position: Int, in text: UnsafeBufferPointer<Unicode.Scalar>, steps: inout Int
        ) -> Bool {
            var depth = 1
            stack[0] = pc
            while depth > 0 {
                depth -= 1
                let pc = stack[depth]
                steps += 1
                guard insert(pc) else { continue }
                switch code[pc] {
                case .match: return true
                case .jump(let to):
                    stack[depth] = to
                    depth += 1
                case .split(let a, let b):
                    stack[depth] = b
                    stack[depth + 1] = a
                    depth += 2
                case .assert(let a):
                    if Program.holds(a, at: position, in: text) {
                        stack[depth] = pc + 1
                        depth += 1
                    }
                case .scalar, .caseless, .set: break
                }
            }
            return false
        }
    }
}
