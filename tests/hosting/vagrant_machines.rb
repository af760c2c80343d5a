# vagrant_machines.rb - evaluates the Vagrantfile with a stand-in for Vagrant; prints its machines and their provisioners.
#
#   LAB=ha ruby tests/hosting/vagrant_machines.rb Vagrantfile
#   machine db1
#   provision db1 base /shoplab/lab/provision-base.sh /shoplab
#   ...
# Every call on the configuration is recorded, not checked: what Vagrant itself accepts is
# `vagrant validate`'s job (tests/hosting/test_vagrant.sh runs it where Vagrant is installed).
class Recorder
  def initialize(machine, out)
    @machine = machine
    @out = out
  end

  def define(name, *_args, **_kw)
    @out << "machine #{name}"
    sub = Recorder.new(name.to_s, @out)
    yield sub if block_given?
    sub
  end

  def provision(name, *_args, **kw)
    what = kw[:inline] || kw[:path] || ""
    env = (kw[:env] || {}).map { |k, v| "#{k}=#{v}" }.join(" ")
    @out << "provision #{@machine} #{name} #{what.to_s.gsub(/\s+/, ' ').strip}"
    @out << "env #{@machine} #{env}" unless env.empty?
    self
  end

  def method_missing(_name, *_args, **_kw)
    yield Recorder.new(@machine, @out) if block_given?
    self
  end

  def respond_to_missing?(*_args)
    true
  end
end

module Vagrant
  def self.configure(_version)
    out = []
    yield Recorder.new("default", out)
    puts out
  end
end

load ARGV.fetch(0, "Vagrantfile")
